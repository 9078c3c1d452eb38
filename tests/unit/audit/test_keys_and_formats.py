"""Canonical form, signatures, payload sealing, subjects, summaries and config: the parts under the chain."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from bastion.audit.canonical import canonical, sha256_hex, signed_message
from bastion.audit.config import AuditConfig
from bastion.audit.payloads import PayloadVault, VaultError, sealed_digest
from bastion.audit.signing import AuditKeyError, Signer, generate_ed25519
from bastion.audit.subjects import Subject, parse_subject, subject_of
from bastion.audit.summary import safe_summary
from bastion.config import BastionConfig
from tests.unit.audit.conftest import HMAC_KEY, MASTER_KEY, OTHER_HMAC_KEY

# --------------------------------------------------------------------------- canonical form


def test_canonical_json_is_independent_of_key_order_and_spacing() -> None:
    one = canonical({"b": 1, "a": {"y": [1, 2.5, None], "x": "é"}})
    two = canonical({"a": {"x": "é", "y": [1, 2.5, None]}, "b": 1})
    assert one == two == '{"a":{"x":"é","y":[1,2.5,null]},"b":1}'.encode()
    assert sha256_hex(one) == sha256_hex(two)


def test_canonical_json_never_fails_on_odd_values() -> None:
    assert canonical({1: {3, 4} - {3, 4} or "x"}) == b'{"1":"x"}'
    assert (
        canonical({"when": object.__new__(type("T", (), {"__str__": lambda self: "t"}))}) == b'{"when":"t"}'
    )


def test_signed_messages_of_different_kinds_differ() -> None:
    fields = {"chain": "c", "seq": 1, "hash": "h"}
    assert signed_message("checkpoint", fields) != signed_message("head", fields)
    assert signed_message("head", fields).startswith(b"bastion-audit-v1\n")


# --------------------------------------------------------------------------- signatures


def test_hmac_signatures_verify_and_name_their_key() -> None:
    signer = Signer.from_config(AuditConfig(signing_key=HMAC_KEY))
    key_id, signature = signer.sign(b"message")
    assert signer.verify(key_id, b"message", signature) is None
    assert signer.verify(key_id, b"other", signature) == "bad signature"
    other = Signer.from_config(AuditConfig(signing_key=OTHER_HMAC_KEY))
    assert "not configured" in (other.verify(key_id, b"message", signature) or "")
    assert HMAC_KEY not in key_id


def test_previous_keys_verify_after_a_rotation() -> None:
    old = Signer.from_config(AuditConfig(signing_key=OTHER_HMAC_KEY))
    key_id, signature = old.sign(b"m")
    rotated = Signer.from_config(AuditConfig(signing_key=HMAC_KEY, previous_keys=[OTHER_HMAC_KEY]))
    assert rotated.verify(key_id, b"m", signature) is None
    assert rotated.sign(b"m")[0] != key_id


@pytest.mark.parametrize("form", ["base64", "hex", "pem"])
def test_ed25519_keys_in_every_form_and_verification_by_public_key_alone(form: str) -> None:
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    text = {
        "base64": base64.b64encode(seed).decode(),
        "hex": seed.hex(),
        "pem": private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    }[form]
    signer = Signer.from_config(AuditConfig(signing="ed25519", signing_key=text))
    key_id, signature = signer.sign(b"checkpoint")
    public = base64.b64encode(
        private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).decode()
    auditor = Signer.from_config(AuditConfig(signing="ed25519", public_keys=[public]))
    assert not auditor.can_sign and auditor.can_verify
    assert auditor.verify(key_id, b"checkpoint", signature) is None
    assert auditor.verify(key_id, b"checkpoint!", signature) == "bad signature"


def test_unusable_keys_are_refused_without_showing_them() -> None:
    with pytest.raises(AuditKeyError) as error:
        Signer.from_config(AuditConfig(signing="ed25519", signing_key="not-a-key-but-a-secret-of-sorts"))
    assert "not-a-key" not in str(error.value) and "signing_key" in str(error.value)
    with pytest.raises(ValidationError) as invalid:
        AuditConfig(signing_key="short-secret")
    assert "short-secret" not in str(invalid.value).split("input_value")[0]


def test_generated_ed25519_keys_work() -> None:
    private, public = generate_ed25519()
    signer = Signer.from_config(AuditConfig(signing="ed25519", signing_key=private, public_keys=[public]))
    assert signer.verify(*signer.sign(b"x")[:1], b"x", signer.sign(b"x")[1]) is None


# --------------------------------------------------------------------------- payload sealing


def test_a_payload_opens_only_with_its_subject_key_and_request() -> None:
    vault = PayloadVault(MASTER_KEY)
    row, data_key = vault.new_key("user:bob", 1.0)
    assert row.wrapped is not None and data_key not in row.wrapped
    assert vault.unwrap(row) == data_key
    sealed = vault.seal(data_key, row.key_id, "req-1", b'{"request":"hi"}')
    assert vault.open(data_key, row.key_id, "req-1", sealed) == b'{"request":"hi"}'
    assert len(sealed_digest(sealed)) == 64
    with pytest.raises(VaultError):
        vault.open(data_key, row.key_id, "req-2", sealed)  # moved to another request
    with pytest.raises(VaultError):
        vault.open(data_key, row.key_id, "req-1", sealed[:-1] + bytes([sealed[-1] ^ 1]))


def test_a_wrapped_key_needs_the_master_key_and_its_own_row() -> None:
    vault = PayloadVault(MASTER_KEY)
    row, _ = vault.new_key("user:bob", 1.0)
    with pytest.raises(VaultError) as error:
        PayloadVault(MASTER_KEY + "x").unwrap(row)
    assert MASTER_KEY not in str(error.value)
    row.subject = "user:mallory"  # a wrapped key copied to another subject's row does not open
    with pytest.raises(VaultError):
        vault.unwrap(row)
    row.wrapped = None  # erased
    assert vault.unwrap(row) is None


# --------------------------------------------------------------------------- subjects and summaries


def test_the_subject_is_the_end_user_within_its_tenant_else_the_user_else_the_key() -> None:
    assert subject_of("alice", "search", "key_1", "bob") == "end_user:search/alice"
    assert subject_of("alice", None, "key_1", "bob") == "end_user:key_1/alice"
    assert subject_of(None, "search", "key_1", "bob") == "user:bob"
    assert subject_of(None, None, "key_1", None) == "key:key_1"
    assert parse_subject("end_user:search/a/b") == Subject("end_user", "a/b", "search")
    assert str(parse_subject("user:bob")) == "user:bob"
    for bad in ("alice", "end_user:alice", "group:x", "user:"):
        with pytest.raises(ValueError):
            parse_subject(bad)


def test_admin_summaries_keep_no_secret() -> None:
    created = {"key": "bst_secret", "id": "key_1", "prefix": "bst_sec", "name": "bot", "note": "store it"}
    assert safe_summary(created) == {"id": "key_1", "prefix": "bst_sec", "name": "bot"}
    assert safe_summary({"reloaded": False, "problems": ["models.x: bad value 'sk-1'"]}) == {
        "reloaded": False,
        "problems": 1,
    }
    assert safe_summary(["not", "a", "dict"]) == {}


# --------------------------------------------------------------------------- config


def test_audit_is_off_by_default_and_needs_its_keys_when_on() -> None:
    assert BastionConfig().audit.enabled is False
    with pytest.raises(ValidationError, match="signing_key"):
        AuditConfig(enabled=True)
    with pytest.raises(ValidationError, match="master_key"):
        AuditConfig(enabled=True, signing_key=HMAC_KEY, payloads="full")
    config = AuditConfig(enabled=True, signing_key=HMAC_KEY, payloads="full", master_key=MASTER_KEY)
    assert HMAC_KEY not in repr(config) and MASTER_KEY not in repr(config)
    with pytest.raises(ValidationError, match="replica_id"):
        AuditConfig(replica_id="a/b")


def test_keys_can_come_from_files(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / "signing").write_text(HMAC_KEY + "\n")
    (folder / "master").write_text(MASTER_KEY + "\n")
    config = AuditConfig(
        enabled=True,
        signing_key_file=str(folder / "signing"),
        payloads="full",
        master_key_file=str(folder / "master"),
    )
    assert config.resolved_signing_key() == HMAC_KEY and config.resolved_master_key() == MASTER_KEY
    missing = AuditConfig(enabled=True, signing_key_file=str(folder / "nope"))
    with pytest.raises(AuditKeyError, match="signing_key_file"):
        Signer.from_config(missing)
