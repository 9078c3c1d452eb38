"""The one byte form of everything that is hashed or signed, so a verifier recomputes the same digests.

Canonical JSON is orjson with keys sorted at every level, no whitespace, UTF-8, floats in their
shortest round-trip form. An entry is stored as those exact bytes (a TEXT column, not JSONB,
which would reorder keys and normalise numbers), so verifying never re-serialises anything.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

#: the ``prev_hash`` of a chain's first entry
GENESIS_HASH = "0" * 64
#: prefixed to every signed message so a signature over one kind of record never fits another
SIGNATURE_DOMAIN = b"bastion-audit-v1\n"


def canonical(value: Any) -> bytes:
    """``value`` as canonical JSON; anything JSON cannot hold becomes its ``str`` (never an error)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def signed_message(kind: str, fields: dict[str, Any]) -> bytes:
    """What a checkpoint, head or prune marker signature covers: its kind and every field, canonically."""
    return SIGNATURE_DOMAIN + canonical({"type": kind, **fields})
