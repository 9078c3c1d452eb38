"""Signatures over checkpoints, heads and prune markers: HMAC-SHA256 or Ed25519, keys from the config.

The database never holds a key, so whoever can write to it can edit entries and recompute
hashes but cannot sign: a chain re-hashed after an edit no longer matches its signed
checkpoints and head. Ed25519 lets an auditor verify with the public key alone. Each
signature names its key by ``key_id`` (a digest of the key, never the key), so verify accepts
older keys listed in ``previous_keys`` after a rotation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bastion.audit.config import MIN_SECRET_CHARS, AuditConfig


class AuditKeyError(ValueError):
    """A key in the config cannot be used; the message names the setting, never the key."""


@dataclass(frozen=True, slots=True)
class _Key:
    key_id: str
    algorithm: str  # "hmac" | "ed25519"
    secret: bytes = field(default=b"", repr=False)  # HMAC secret
    private: Ed25519PrivateKey | None = field(default=None, repr=False)
    public: Ed25519PublicKey | None = None

    def sign(self, message: bytes) -> str:
        if self.algorithm == "hmac":
            return hmac.new(self.secret, message, hashlib.sha256).hexdigest()
        assert self.private is not None
        return base64.b64encode(self.private.sign(message)).decode()

    def verify(self, message: bytes, signature: str) -> bool:
        if self.algorithm == "hmac":
            expected = hmac.new(self.secret, message, hashlib.sha256).hexdigest()
            return hmac.compare_digest(expected, signature)
        assert self.public is not None
        try:
            self.public.verify(base64.b64decode(signature, validate=True), message)
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


class Signer:
    """Signs with the current key (when there is one) and verifies with any configured key."""

    def __init__(self, current: _Key | None, others: list[_Key]) -> None:
        self._current = current
        self._keys = {key.key_id: key for key in ([current] if current else []) + others}

    @classmethod
    def from_config(cls, config: AuditConfig) -> Signer:
        """The config's keys; raises ``AuditKeyError`` (naming the setting) when one is unusable."""
        try:
            raw = config.resolved_signing_key()
        except ValueError as error:
            raise AuditKeyError(str(error)) from None
        current = _parse(raw, config.signing, "signing_key") if raw else None
        others = [
            _parse(value, config.signing, f"previous_keys[{position}]")
            for position, value in enumerate(config.previous_keys)
        ]
        others += [
            _public(value, f"public_keys[{position}]") for position, value in enumerate(config.public_keys)
        ]
        return cls(current, others)

    @property
    def can_sign(self) -> bool:
        return self._current is not None

    @property
    def can_verify(self) -> bool:
        return bool(self._keys)

    @property
    def key_id(self) -> str:
        if self._current is None:
            raise AuditKeyError("no signing key configured (audit.signing_key)")
        return self._current.key_id

    def sign(self, message: bytes) -> tuple[str, str]:
        """(key_id, signature) of ``message`` under the current key."""
        if self._current is None:
            raise AuditKeyError("no signing key configured (audit.signing_key)")
        return self._current.key_id, self._current.sign(message)

    def verify(self, key_id: str, message: bytes, signature: str) -> str | None:
        """None when valid, else why not ("unknown key …" or "bad signature")."""
        key = self._keys.get(key_id)
        if key is None:
            return f"signed with key {key_id}, which is not configured"
        return None if key.verify(message, signature) else "bad signature"


def _parse(value: str, algorithm: str, setting: str) -> _Key:
    if algorithm == "hmac":
        if len(value) < MIN_SECRET_CHARS:
            raise AuditKeyError(f"{setting}: an HMAC key needs at least {MIN_SECRET_CHARS} characters")
        secret = value.encode()
        key_id = hashlib.sha256(b"bastion-audit-hmac-key-id\n" + secret).hexdigest()[:16]
        return _Key(key_id=key_id, algorithm="hmac", secret=secret)
    private = _ed25519_private(value, setting)
    public = private.public_key()
    return _Key(key_id=_public_id(public), algorithm="ed25519", private=private, public=public)


def _ed25519_private(value: str, setting: str) -> Ed25519PrivateKey:
    text = value.strip()
    if text.startswith("-----BEGIN"):
        try:
            loaded = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError):
            raise AuditKeyError(f"{setting}: not a readable unencrypted PEM private key") from None
        if not isinstance(loaded, Ed25519PrivateKey):
            raise AuditKeyError(f"{setting}: the PEM key is not an Ed25519 key")
        return loaded
    seed = _raw32(text)
    if seed is None:
        raise AuditKeyError(f"{setting}: expected a 32-byte Ed25519 seed in base64 or hex, or a PEM key")
    return Ed25519PrivateKey.from_private_bytes(seed)


def _public(value: str, setting: str) -> _Key:
    text = value.strip()
    public: Ed25519PublicKey
    if text.startswith("-----BEGIN"):
        try:
            loaded = serialization.load_pem_public_key(text.encode())
        except (ValueError, TypeError):
            raise AuditKeyError(f"{setting}: not a readable PEM public key") from None
        if not isinstance(loaded, Ed25519PublicKey):
            raise AuditKeyError(f"{setting}: the PEM key is not an Ed25519 key")
        public = loaded
    else:
        raw = _raw32(text)
        if raw is None:
            raise AuditKeyError(f"{setting}: expected a 32-byte Ed25519 public key in base64 or hex, or PEM")
        public = Ed25519PublicKey.from_public_bytes(raw)
    return _Key(key_id=_public_id(public), algorithm="ed25519", public=public)


def _public_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _raw32(text: str) -> bytes | None:
    for decode in (bytes.fromhex, lambda t: base64.b64decode(t, validate=True)):
        try:
            raw = decode(text)
        except (ValueError, binascii.Error):
            continue
        if len(raw) == 32:
            return raw
    return None


def generate_ed25519() -> tuple[str, str]:
    """A new Ed25519 key pair: (private seed, public key), both base64."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(seed).decode(), base64.b64encode(public).decode()
