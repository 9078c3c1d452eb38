"""The ``audit`` config section: the tamper-evident log, its keys, payload storage and retention.

Keys come from the config (usually ``${ENV}``) or a file; they are never logged, never written
to the database and never part of an error message (``repr=False``, and errors name the
setting, not its value).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: the shortest HMAC or master key accepted, in characters (a 32-byte random key in base64 is 44)
MIN_SECRET_CHARS = 32


class _Strict(BaseModel):
    # the same base as bastion.config.Strict, defined here so bastion.config can import this module
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetentionConfig(_Strict):
    """How long each category of data is kept, in days; None keeps it forever."""

    request_days: float | None = Field(None, gt=0, description="request entries of the audit chain")
    admin_days: float | None = Field(None, gt=0, description="admin-action entries of the audit chain")
    payload_days: float | None = Field(None, gt=0, description="stored (encrypted) prompts and answers")
    ledger_days: float | None = Field(None, gt=0, description="usage ledger rows")
    interval_seconds: float = Field(3600, gt=0, description="how often the background task runs")

    @property
    def any(self) -> bool:
        return any(
            days is not None
            for days in (self.request_days, self.admin_days, self.payload_days, self.ledger_days)
        )


class AuditConfig(_Strict):
    enabled: bool = False
    payloads: Literal["off", "hashed", "full"] = Field(
        "hashed",
        description="off: nothing of them; hashed: SHA-256 of prompt and answer; full: also stored encrypted",
    )
    signing: Literal["hmac", "ed25519"] = "hmac"
    signing_key: str | None = Field(
        None, repr=False, description="HMAC secret (>= 32 chars) or Ed25519 private key (base64 seed or PEM)"
    )
    signing_key_file: str | None = None
    previous_keys: list[str] = Field(
        default_factory=list, repr=False, description="older signing keys, accepted by verify (rotation)"
    )
    public_keys: list[str] = Field(
        default_factory=list, description="Ed25519 public keys (base64 or PEM) verify accepts without signing"
    )
    master_key: str | None = Field(
        None, repr=False, description="wraps the per-subject payload keys (>= 32 chars); needed by full"
    )
    master_key_file: str | None = None
    replica_id: str | None = Field(
        None, description="names this process's chains (default: the host name); letters, digits, - _ ."
    )
    checkpoint_every: int = Field(1000, ge=1, description="sign a checkpoint after this many entries")
    checkpoint_seconds: float = Field(60.0, gt=0, description="or after this long, when entries arrived")
    flush_ms: float = Field(200, gt=0)
    batch_size: int = Field(500, ge=1)
    max_queue: int = Field(20_000, ge=1, description="entries held while the database is away")
    retention: RetentionConfig = Field(default_factory=RetentionConfig)

    @model_validator(mode="after")
    def _keys(self) -> AuditConfig:
        if self.signing_key and self.signing_key_file:
            raise ValueError("set signing_key or signing_key_file, not both")
        if self.master_key and self.master_key_file:
            raise ValueError("set master_key or master_key_file, not both")
        if self.enabled and not (self.signing_key or self.signing_key_file):
            raise ValueError("enabled: true needs signing_key or signing_key_file (checkpoints are signed)")
        if self.enabled and self.payloads == "full" and not (self.master_key or self.master_key_file):
            raise ValueError("payloads: full needs master_key or master_key_file (it wraps the subject keys)")
        if self.signing == "hmac" and self.signing_key and len(self.signing_key) < MIN_SECRET_CHARS:
            raise ValueError(f"signing_key: an HMAC key needs at least {MIN_SECRET_CHARS} characters")
        if self.master_key and len(self.master_key) < MIN_SECRET_CHARS:
            raise ValueError(f"master_key: needs at least {MIN_SECRET_CHARS} characters")
        if self.replica_id is not None and (
            not self.replica_id or not all(c.isalnum() or c in "-_." for c in self.replica_id)
        ):
            raise ValueError("replica_id may only use letters, digits, '-', '_' and '.'")
        return self

    def resolved_signing_key(self) -> str | None:
        return _secret(self.signing_key, self.signing_key_file, "signing_key_file")

    def resolved_master_key(self) -> str | None:
        key = _secret(self.master_key, self.master_key_file, "master_key_file")
        if key is not None and len(key) < MIN_SECRET_CHARS:
            raise ValueError(f"master_key_file: the key needs at least {MIN_SECRET_CHARS} characters")
        return key


def _secret(value: str | None, path: str | None, setting: str) -> str | None:
    """The secret itself, or the content of its file; errors name the setting and file, never the secret."""
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip() or None
        except OSError as error:
            raise ValueError(f"{setting} {path}: cannot read it ({error.strerror})") from None
    return value or None
